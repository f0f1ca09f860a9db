"""One exercise of the book as one Otter-Grader question (used by ``tools/assignments.py``).

An exercise whose solution calls one of the library's checks (``check_*`` of
:mod:`camwalls_lib.book.exercises`) becomes an **autograded** question. Its answer is read from
the book's own solution: the argument the solution passes as the check's answer (``answer``,
``expr`` or ``rule``) becomes the student's cell ``answer_<check> = ...`` (or, when the book
passes a name it defined, that definition: ``alpha = ...``, ``def rule(cap): ...``). Its tests
call the same check through :func:`camwalls_lib.book.exercises.assert_correct`:

- public: the book's call, with the student's answer (what ``grader.check`` runs while working;
  a wrong answer gets the check's hint, never the answer);
- hidden: the same check, stricter -- a symbolic answer at other random points (``seed=1``),
  a rule on other images and another wall (:data:`HIDDEN`).

Every other exercise asks for an argument: a question **graded by hand**, the book's solution
(prose and code) as its rubric.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from dataclasses import dataclass, field

from nbformat import v4

from camwalls_lib.book import exercises

__all__ = ["Question", "question", "POINTS", "HIDDEN"]

# Points by the exercise's level (its first bold word).
POINTS = {"Warm-up": 1, "Core": 2, "Challenge": 3}
# The parameter that receives the student's answer, in the checks' signatures.
ANSWER_PARAMS = ("answer", "expr", "rule")
# Hidden tests beyond the automatic ones: the answer ({answer}) on other inputs. The last
# statement is the check's call; names not defined here come from the chapter.
HIDDEN = {
    "ex-07-2": [
        "check_zero_leak_rule({answer}, model, stacked.x[64:192], zone)",
        "import torch\n"
        "from camwalls_lib.networks.models import ToyCNN\n"
        "from camwalls_lib.walls import Wall, dead_zone\n"
        "torch.manual_seed(1)\n"
        "other = ToyCNN(V=16, wall=Wall.bottom(6)).eval()\n"
        "check_zero_leak_rule({answer}, other, stacked.x[:64], dead_zone(other, (1, 28, 28)))",
    ],
}


@dataclass
class Question:
    """An exercise as an Otter question: ``cells()`` are its cells in the master notebook."""

    label: str                    # the book's label, e.g. "ex-first-wall-1"
    level: str                    # "Warm-up", "Core" or "Challenge"
    prompt: str                   # the exercise's text (Markdown)
    rubric: str                   # the book's solution (Markdown, code fenced)
    answer: str | None = None     # the variable an autograded answer goes into
    solution: str = ""            # the master's answer cell (Otter's solution markers)
    code: str = ""                # the solution's code (a question graded by hand shows it)
    tests: list[str] = field(default_factory=list)    # test cells, the public one first

    @property
    def name(self) -> str:
        return self.label.replace("-", "_")

    @property
    def points(self) -> int:
        return POINTS.get(self.level, 2)

    @property
    def autograded(self) -> bool:
        return self.answer is not None

    def cells(self) -> list:
        config = f"# BEGIN QUESTION\nname: {self.name}\npoints: {self.points}"
        how = "autograded" if self.autograded else "graded by hand"
        head = (f"### Exercise `{self.label}` ({self.level.lower()}, {self.points} "
                f"point{'s' if self.points > 1 else ''}, {how})\n\n{self.prompt}")
        if not self.autograded:       # a Markdown cell for the argument, a code cell if it computes
            code = [v4.new_code_cell(f"# BEGIN SOLUTION\n{self.code}\n# END SOLUTION")] * bool(self.code)
            return [v4.new_raw_cell(config + "\nmanual: true"), v4.new_markdown_cell(head),
                    v4.new_raw_cell("# BEGIN SOLUTION"), v4.new_markdown_cell(self.rubric), *code,
                    v4.new_raw_cell("# END SOLUTION"), v4.new_raw_cell("# END QUESTION")]
        where = (f"Write the function `{self.answer}`" if f"def {self.answer}(" in self.solution
                 else f"Put your answer in `{self.answer}`")
        head += (f"\n\n{where} in the cell below, then run the check under it: it says whether "
                 "the answer is right, with a hint if it is not.")
        return [v4.new_raw_cell(config), v4.new_markdown_cell(head),
                v4.new_raw_cell("# BEGIN SOLUTION"), v4.new_code_cell(self.solution),
                v4.new_raw_cell("# END SOLUTION"), v4.new_raw_cell("# BEGIN TESTS"),
                *(v4.new_code_cell(t) for t in self.tests),
                v4.new_raw_cell("# END TESTS"), v4.new_raw_cell("# END QUESTION")]


def question(label: str, prompt: str, code: list[str], rubric: str) -> Question:
    """The question of exercise ``label``: autograded when its solution ``code`` calls a check."""
    level = next((lv for lv in POINTS if f"**{lv}" in prompt), "Core")
    source = "\n\n".join(code)
    q = Question(label, level, prompt, rubric, code=source)
    tree = ast.parse(source) if source.strip() else ast.Module(body=[], type_ignores=[])
    found = _grader_call(tree)
    if found is None:
        if label in HIDDEN:
            raise ValueError(f"HIDDEN names {label}, whose solution calls no check.")
        return q
    index, call, check, param = found
    lines = source.split("\n")
    given = _bound(check, call)[param]
    defined = (given.id if isinstance(given, ast.Name)
               and any(_defines(s, given.id) for s in tree.body[:index]) else None)
    q.answer = defined or f"answer_{check.__name__.removeprefix('check_')}"
    q.solution = "\n".join(_solution_lines(tree, lines, index, defined, q.answer, given))
    public = _with_answer(call, check, param, q.answer)
    q.tests = [_test_cell(f"test_{q.name}", ast.unparse(public), check, q.answer, hidden=False)]
    hidden = [ast.unparse(_with_seed(public))] if "seed" in _parameters(check) else []
    hidden += [h.format(answer=q.answer) for h in HIDDEN.get(label, [])]
    q.tests += [_test_cell(f"test_{q.name}_hidden_{i + 1}", h, check, q.answer, hidden=True)
                for i, h in enumerate(hidden)]
    return q


def _parameters(check) -> list[str]:
    return list(inspect.signature(check).parameters)


def _bound(check, call: ast.Call) -> dict:
    return inspect.signature(check).bind(
        *call.args, **{k.arg: k.value for k in call.keywords}).arguments


def _grader_call(tree: ast.Module):
    """(index of the statement, the call, the check, its answer parameter) of the first
    top-level statement that calls a check of ``exercises`` with an answer, else None."""
    for index, stmt in enumerate(tree.body):
        call = getattr(stmt, "value", None) if isinstance(stmt, (ast.Expr, ast.Assign)) else None
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        check = getattr(exercises, name, None) if name.startswith("check_") else None
        param = next((p for p in ANSWER_PARAMS if check and p in _parameters(check)), None)
        if param and param in _bound(check, call):
            return index, call, check, param
    return None


def _defines(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
        return stmt.name == name
    return isinstance(stmt, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == name for t in stmt.targets)


def _solution_lines(tree, lines, index, defined, answer, given) -> list[str]:
    """The master's answer cell: the solution's set-up as it is, the answer marked for Otter
    (``# SOLUTION``: the student sees ``name = ...``), what follows the check removed from the
    student's copy (``# BEGIN SOLUTION NO PROMPT``)."""
    out, start = [], 0
    for stmt in tree.body[:index]:
        chunk = lines[start:stmt.end_lineno]
        if defined and _defines(stmt, defined) and isinstance(stmt, ast.FunctionDef):
            head = stmt.body[0].lineno - 1 - start
            indent = " " * stmt.body[0].col_offset
            chunk = [*chunk[:head], indent + "# BEGIN SOLUTION", *chunk[head:],
                     indent + "# END SOLUTION"]
        elif defined and _defines(stmt, defined):
            chunk = [*lines[start:stmt.lineno - 1],
                     f"{defined} = {ast.unparse(stmt.value)}  # SOLUTION"]
        out += chunk
        start = stmt.end_lineno
    if not defined:
        out.append(f"{answer} = {ast.unparse(given)}  # SOLUTION")
    rest = lines[tree.body[index].end_lineno:]
    if any(line.strip() for line in rest):
        out += ["# BEGIN SOLUTION NO PROMPT", *rest, "# END SOLUTION"]
    return out


def _with_answer(call: ast.Call, check, param: str, answer: str) -> ast.Call:
    """``call`` with the student's variable ``answer`` as the check's answer argument."""
    names = _parameters(check)
    args = [ast.Name(answer, ast.Load()) if i < len(names) and names[i] == param else a
            for i, a in enumerate(call.args)]
    keywords = [ast.keyword(k.arg, ast.Name(answer, ast.Load())) if k.arg == param else k
                for k in call.keywords]
    return ast.Call(call.func, args, keywords)


def _with_seed(call: ast.Call, seed: int = 1) -> ast.Call:
    return ast.Call(call.func, call.args, [*call.keywords, ast.keyword("seed", ast.Constant(seed))])


def _test_cell(name: str, snippet: str, check, answer: str, hidden: bool) -> str:
    """An exception-based Otter test: ``snippet``'s set-up, then its last statement, the call of
    ``check``, through ``assert_correct``. The check comes from the library (a student's
    notebook cannot replace it); the test's parameters are the chapter's names it reads (Otter
    passes them from the student's notebook)."""
    tree = ast.parse(snippet)
    call = tree.body[-1].value
    tree.body[-1] = ast.Expr(ast.Call(ast.Name("assert_correct", ast.Load()),
                                      [ast.Name(check.__name__, ast.Load()), *call.args],
                                      call.keywords))
    body = [f"assert {answer} is not ..., 'replace the ... of {answer} = ... by your answer'",
            *ast.unparse(tree).split("\n")]
    params = sorted(_free_names(tree) - {check.__name__} | {answer})
    return "\n".join(["# HIDDEN"] * hidden + [
        f"def {name}({', '.join(params)}):",
        f"    from camwalls_lib.book.exercises import assert_correct, {check.__name__}",
        *(f"    {line}" for line in body)])


def _free_names(tree: ast.Module) -> set[str]:
    """Names ``tree`` reads but does not define (builtins excluded)."""
    loaded, bound = set(), {"assert_correct"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return loaded - bound - set(dir(builtins))
