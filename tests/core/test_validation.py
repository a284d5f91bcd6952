"""Every rule of DESIGN section 2: exact path, message and fix, all problems at once."""

from __future__ import annotations

import textwrap

import pytest

from groupplug import hookimpl, loads_workflow
from groupplug.exceptions import GroupplugValueError, Problem
from groupplug.plugins import new_plugin_manager
from groupplug.spec import Group, Task, Workflow
from groupplug.validation import check, validate


def problems(yaml_text: str, **kwargs) -> list[str]:
    with pytest.raises(GroupplugValueError) as info:
        loads_workflow(textwrap.dedent(yaml_text), **kwargs)
    return [str(p) for p in info.value.problems]


def test_valid_spec_has_no_problems():
    wf = Workflow("w", (Group("g", (Task("a", "true", lead=True), Task("b", "true"))),))
    assert validate(wf) == [] and check(wf) is wf


def test_all_problems_at_once():
    found = problems("""
        workflow:
          name: w
          groups:
          - name: g
            tasks:
            - {name: a, lead: true, command: 'true'}
            - {name: b, lead: true, command: 'true'}
          - name: eval
          - name: h
            tasks:
            - {name: c, command: 'true'}
            - {name: d, command: 'true'}
        """)
    assert found == [
        'workflow.groups[0] (line 5): group "g" has 2 leads (a, b); '
        "mark exactly one task lead: true",
        'workflow.groups[1] (line 9): group "eval": a group needs at least one task; '
        "add tasks: (or nested groups:) to it, or remove it",
        'workflow.groups[2] (line 10): group "h" has no lead; mark exactly one task lead: true',
    ]


def test_one_task_group_lead_is_implicit_and_parent_only_group_is_fine():
    wf = loads_workflow("workflow:\n  name: w\n  groups:\n  - name: p\n    groups:\n"
                        "    - {name: c, tasks: [{name: t, command: 'true'}]}\n")
    assert wf.group_paths()["p.c"].lead.name == "t"
    assert wf.group_paths()["p"].lead is None


@pytest.mark.parametrize(
    ("first", "second"),
    [("worker-1", "Worker_1"), ("train", "TRAIN"), ("a_b", "a-b")],
)
def test_names_collide_case_insensitively_with_dash_equal_underscore(first, second):
    found = problems(f"""
        workflow:
          name: w
          groups:
          - name: {first}
            tasks: [{{name: t1, command: 'true'}}]
          - name: g2
            tasks: [{{name: {second}, command: 'true'}}]
        """)
    assert found == [
        f'workflow.groups[1].tasks[0].name (line 8): name "{second}" collides with "{first}" '
        "(workflow.groups[0]); names are compared ignoring case and '-' vs '_'; rename one"
    ]


def test_illegal_names():
    found = problems("""
        workflow:
          name: "my flow"
          tasks: [{name: "a.b", command: 'true'}]
        """)
    assert len(found) == 2
    assert found[0].startswith("workflow.name (line 3): name 'my flow' is not allowed")
    assert found[1].startswith("workflow.tasks[0].name (line 4): name 'a.b' is not allowed")


def test_same_task_defined_twice_differently():
    found = problems("""
        workflow:
          name: w
          groups:
          - {name: g1, tasks: [{name: t, command: 'echo 1'}]}
          - {name: g2, tasks: [{name: t, command: 'echo 2'}]}
        """)
    assert len(found) == 1 and "defined again with different fields" in found[0]
    assert found[0].startswith("workflow.groups[1].tasks[0] (line 6)")


def test_unknown_edges_and_self_containment():
    found = problems("""
        workflow:
          name: w
          groups:
          - name: p
            groups:
            - name: c
              upstream: [p]
              tasks: [{name: t, command: 'true', inputs: [nope]}]
          - {name: q, upstream: [t, ghost], tasks: [{name: u, command: 'true'}]}
        """)
    assert found == [
        "workflow.groups[0].groups[0].upstream (line 8): group 'c' cannot wait for 'p', which "
        "contains it; remove it from upstream",
        "workflow.groups[0].groups[0].tasks[0].inputs (line 9): unknown task 'nope'; "
        "inputs name tasks of this workflow",
        "workflow.groups[1].upstream (line 10): unknown group 't' (it is a task: name its group, "
        "or use inputs:); upstream names groups: c, p, q",
        "workflow.groups[1].upstream (line 10): unknown group 'ghost'; upstream names groups: "
        "c, p, q",
    ]


def test_cycles_are_named():
    found = problems("""
        workflow:
          name: w
          groups:
          - {name: a, upstream: [c], tasks: [{name: ta, command: 'true'}]}
          - {name: b, upstream: [a], tasks: [{name: tb, command: 'true'}]}
          - {name: c, upstream: [b], tasks: [{name: tc, command: 'true'}]}
          - name: d
            barrier: false
            tasks:
            - {name: x, lead: true, command: 'true', inputs: [y]}
            - {name: y, command: 'true', inputs: [x]}
        """)
    assert len(found) == 2, found
    assert "cycle between groups: a -> c -> b -> a" in found[0]
    assert found[1].startswith("workflow.groups[3].tasks (line 10): cycle between tasks: x -> y")


def test_input_from_own_barrier_group_would_deadlock():
    found = problems("""
        workflow:
          name: w
          groups:
          - name: g
            tasks:
            - {name: a, lead: true, command: 'true'}
            - {name: b, command: 'true', inputs: [a]}
        """)
    assert found == [
        'workflow.groups[0].tasks[1].inputs (line 8): task "b" needs "a" from its own barrier '
        'group "g": members wait at the barrier for each other, so it would wait forever; '
        "set barrier: false on the group or move a out"
    ]


def test_directive_keys_and_values():
    found = problems("""
        workflow:
          name: w
          groups:
          - name: g
            directives: {b: {ngpu: -1}, zz: {np: 1}}
            tasks:
            - {name: a, lead: true, command: 'true', directives: {memory: lots, gpus: 2}}
            - {name: b, command: 'true', directives: {walltime: "1 fortnight", np: 0}}
        """)
    assert [f.split(":")[0] for f in found] == [
        "workflow.groups[0].directives.b.ngpu (line 6)",
        "workflow.groups[0].directives.zz (line 6)",
        "workflow.groups[0].tasks[0].directives.memory (line 8)",
        "workflow.groups[0].tasks[0].directives.gpus (line 8)",
        "workflow.groups[0].tasks[1].directives.walltime (line 9)",
        "workflow.groups[0].tasks[1].directives.np (line 9)",
    ]
    assert "ngpu must be a whole number >= 0, got -1" in found[0]
    assert "'zz' is not a member of this group; name one of: a, b" in found[1]
    assert "unknown directive 'gpus'; known: " in found[3] and "ngpu, np," in found[3]


def test_barrier_timeout_and_retries_ranges():
    found = problems("""
        workflow:
          name: w
          groups:
          - name: g
            barrierTimeout: 0
            tasks: [{name: a, command: 'true', retries: -1, retryDelay: -2}]
        """)
    assert [f.split(":")[0] for f in found] == [
        "workflow.groups[0].barrierTimeout (line 6)",
        "workflow.groups[0].tasks[0].retries (line 7)",
        "workflow.groups[0].tasks[0].retryDelay (line 7)",
    ]


class EnginePlugin:
    @hookimpl
    def groupplug_validate_spec(self, workflow, engine):
        if engine == "toy" and len(workflow.groups) > 1:
            return [Problem("workflow.groups", "toy runs one group", "merge them")]
        return []

    @hookimpl
    def groupplug_directive_types(self):
        return {"queue": str}


def test_plugins_add_engine_checks_and_directive_keys():
    pm = new_plugin_manager(autoload=False)
    pm.register(EnginePlugin())
    text = textwrap.dedent("""
        workflow:
          name: w
          tasks:
          - {name: a, command: 'true', directives: {queue: gpu}}
          - {name: b, command: 'true'}
        """)
    assert len(loads_workflow(text, pm=pm).groups) == 2
    with pytest.raises(GroupplugValueError, match="toy runs one group; merge them"):
        loads_workflow(text, pm=pm, engine="toy")
    with pytest.raises(GroupplugValueError, match="unknown directive 'queue'"):
        loads_workflow(text, pm=new_plugin_manager(autoload=False))
