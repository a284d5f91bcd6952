"""groupplug for Apache Airflow 3 (``pip install 'groupplug[airflow]'``)."""
