"""A spec dumps to YAML that loads back to an equal spec (hypothesis over random valid specs)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupplug import dump_workflow, loads_workflow
from groupplug.spec import Group, Task, Workflow, freeze
from groupplug.validation import validate

commands = st.sampled_from(["true", "echo 'a: b'", "sleep 1 # x", "printf '%s\\n' \"$HOME\""])
directives = st.fixed_dictionaries({}, optional={
    "np": st.integers(1, 64), "ngpu": st.integers(0, 8),
    "memory": st.floats(0, 1024, allow_nan=False), "walltime": st.floats(0.01, 100)})


@st.composite
def workflows(draw) -> Workflow:
    counter = iter(range(10_000))

    def name(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    def make_task(lead: bool = False) -> Task:
        return Task(name("t"), draw(commands), setup=draw(st.none() | commands), lead=lead,
                    retries=draw(st.integers(0, 3)), retry_delay=draw(st.sampled_from([0.0, 2.5])),
                    directives=freeze(draw(directives)))

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
    singles = [Group(t.name, (t,), barrier=False, implicit=True)
               for t in (make_task() for _ in range(draw(st.integers(0, 2))))]
    return Workflow(name("w"), tuple(groups + singles))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_dump_then_load_gives_an_equal_spec(workflow):
    assert validate(workflow) == []
    text = dump_workflow(workflow)
    assert loads_workflow(text) == workflow, text


def test_unicode_line_breaks_in_text_survive_the_round_trip():
    # Found by the property test: PyYAML wrote NEL raw inside a quoted scalar, read back as a space.
    from groupplug.spec import Group, Task, Workflow

    tooltip = "a\x85b\u2028c\u2029"
    workflow = Workflow("w", (Group("g", (Task("t", command="true"),), tooltip=tooltip),))
    assert loads_workflow(dump_workflow(workflow)) == workflow
