"""groupplug for Prefect 3 (``pip install 'groupplug[prefect]'``)."""
