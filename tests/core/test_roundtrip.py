"""A spec dumps to YAML that loads back to an equal spec (hypothesis over random valid specs)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupplug import dump_workflow, loads_workflow
from groupplug.directives import directive_types
from groupplug.loader import resource_directives
from groupplug.spec import Group, Task, TaskFile, Workflow, freeze
from groupplug.validation import validate

commands = st.sampled_from(["true", "echo 'a: b'", "sleep 1 # x", "printf '%s\\n' \"$HOME\""])
directives = st.fixed_dictionaries({}, optional={
    "np": st.integers(1, 64), "ngpu": st.integers(0, 8),
    "memory": st.floats(0, 1024, allow_nan=False), "walltime": st.floats(0.01, 100)})


# Arguments and values a shell would mangle (spaces, quotes, $, ;, #, a colon, a line separator):
# the argument vector keeps them as written.
words = st.sampled_from(["train.py", "--rank", "0", "a b", "$HOME", "x; y", "'q'", '"d"', "#c",
                         "k: v", "é✓", "l\u2028s", "-", "{{output}}/x"])
programs = st.sampled_from(["python3", "sh", "/usr/bin/env", "é✓"])  # no spaces: see the loader
env_names = st.sampled_from(["A", "PORT", "MY_VAR", "X1"])
file_texts = st.sampled_from(["echo hi > {{output}}/x\n", "import sys\n\nprint(1)\n", "a\n  b\n\n",
                              "no newline", " lead\n"])
resource_specs = st.fixed_dictionaries({}, optional={
    "cpu": st.sampled_from([0.5, 1, 4]), "gpu": st.integers(0, 2),
    "memory": st.sampled_from(["512Mi", "16Gi", 2]), "storage": st.just("10Gi"),
    "platform": st.just("dgx-a100")})


@st.composite
def workflows(draw) -> Workflow:
    counter = iter(range(10_000))

    def name(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    resources = draw(st.dictionaries(st.sampled_from(["default", "gpu", "big"]), resource_specs,
                                     max_size=2))
    types = directive_types()

    def make_task(lead: bool = False, inputs: tuple[str, ...] = ()) -> Task:
        resource = draw(st.none() | st.sampled_from(sorted(resources) or ["default"]))
        resource = resource if resource in resources else None
        own = draw(directives)
        base = resource_directives(resources.get(resource or "default", {}), types)[0]
        task = Task(name("t"), draw(commands), setup=draw(st.none() | commands), lead=lead,
                    inputs=inputs, retries=draw(st.integers(0, 3)),
                    retry_delay=draw(st.sampled_from([0.0, 2.5])),
                    directives=freeze({**base, **own}), resource=resource)
        if not draw(st.booleans()):
            return task
        # OSMO's task fields (drawn for half the tasks: generating them dominates the run time)
        return replace(
            task, command=None, argv=(draw(programs), *draw(st.lists(words, max_size=2))),
            args=tuple(draw(st.lists(words, max_size=3))),
            environment=freeze(draw(st.dictionaries(env_names, words, max_size=2))),
            files=tuple(TaskFile(p, c) for p, c in draw(st.lists(
                st.tuples(st.sampled_from(["run.sh", "a/b.py"]), file_texts), max_size=2))),
            outputs=(freeze({"url": "s3://bucket/x"}),) if draw(st.booleans()) else (),
            image=draw(st.none() | st.just("ubuntu:24.04")))

    def make_group(depth: int) -> Group:
        size = draw(st.integers(0 if depth < 2 else 1, 3))
        lead = draw(st.integers(0, max(size - 1, 0)))
        marked = size > 1 or draw(st.booleans())  # a one-task group's lead may be implicit
        tasks = tuple(make_task(lead=(i == lead and marked)) for i in range(size))
        children = tuple(make_group(depth + 1) for _ in range(draw(st.integers(
            0 if size else 1, 2 if depth < 2 else 0))))
        overrides = {t.name: draw(directives) for t in tasks if draw(st.booleans())}
        return Group(name("g"), tasks, children, barrier=draw(st.booleans()),
                     barrier_timeout=draw(st.none() | st.floats(1, 1e4)),
                     ignore_nonlead_status=draw(st.booleans()), directives=freeze(overrides),
                     tooltip=draw(st.none() | st.text(max_size=20)))

    groups = [make_group(0) for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):  # a task shared by two groups, lead in the second one
        shared = make_task()
        first, second = groups[0], groups[-1]
        if first.tasks:  # the shared task joins as a non-lead, so the group keeps one lead
            tasks = first.tasks if len(first.tasks) > 1 else (replace(first.tasks[0], lead=True),)
            groups[0] = first = replace(first, tasks=(*tasks, shared))
        if second.tasks and first.tasks and second is not first:
            groups[-1] = replace(second, tasks=(
                *(replace(t, lead=False) for t in second.tasks), replace(shared, lead=True)))
    in_groups = sorted({t.name for g in groups for _, sub in g.walk() for t in sub.tasks})
    singles = [Group(t.name, (t,), barrier=False, implicit=True)
               for t in (make_task(inputs=tuple(draw(st.lists(st.sampled_from(in_groups),
                                                              max_size=2, unique=True))))
                         for _ in range(draw(st.integers(0, 2))))]
    return Workflow(name("w"), tuple(groups + singles), resources=freeze(resources),
                    osmo_inputs=draw(st.booleans()))


# No deadline: a loaded CI machine (2 cores, other suites) makes one example take >200 ms.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_dump_then_load_gives_an_equal_spec(workflow):
    assert validate(workflow) == []
    text = dump_workflow(workflow)
    loaded = loads_workflow(text)
    assert loaded == workflow, text
    assert loaded.osmo_inputs == (workflow.osmo_inputs and any(
        t.inputs for _, g in workflow.walk() for t in g.tasks)), text


def test_unicode_line_breaks_in_text_survive_the_round_trip():
    # Found by the property test: PyYAML wrote NEL raw inside a quoted scalar, read back as a space.
    from groupplug.spec import Group, Task, Workflow

    tooltip = "a\x85b\u2028c\u2029"
    workflow = Workflow("w", (Group("g", (Task("t", command="true"),), tooltip=tooltip),))
    assert loads_workflow(dump_workflow(workflow)) == workflow
