"""The documentation site's checks that need no Sphinx: every public name has a page
in the API reference, every public class and function has an Examples section, and
the examples of the docstrings and of the user guide run as doctests.

The site itself (``docs/``, built with warnings as errors by ``.ci/run``) checks the
rest: each docstring is complete numpydoc, each gallery script runs.
"""

import doctest
import importlib
import inspect
import re
from pathlib import Path

import pytest

import fastem

DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_modules():
    """fastem and each public submodule, with the names of its ``__all__``."""
    modules = {"fastem": fastem}
    for name in fastem._SUBMODULES:
        modules[f"fastem.{name}"] = importlib.import_module(f"fastem.{name}")
    return modules


def _public_names():
    """(module name, name) of every public name but ``__version__``."""
    return [
        (module_name, name)
        for module_name, module in _public_modules().items()
        for name in module.__all__
        if name != "__version__"
    ]


def _public_objects():
    """Each public class and function once, by its first public name."""
    objects = {}
    # Submodules first: fastem re-exports their names, documented under them.
    for module_name, name in sorted(_public_names(), key=lambda m: m[0] == "fastem"):
        value = getattr(_public_modules()[module_name], name)
        objects.setdefault(id(value), (f"{module_name}.{name}", value))
    return list(objects.values())


def test_every_public_module_is_imported_by_name():
    """``fastem.__all__`` and ``fastem._SUBMODULES`` name what the API reference
    lists; a submodule added later needs its own section there."""
    assert set(_public_modules()) == {
        "fastem",
        "fastem.hmm",
        "fastem.mixture",
        "fastem.plot",
    }


# --- the API reference ---------------------------------------------------------------


def _api_pages():
    """The objects that ``docs/api.rst`` gives a page (autosummary with a toctree),
    by the name the page is generated under."""
    api = DOCS / "api.rst"
    if not api.exists():  # the suite run from an installed wheel has no docs/
        pytest.skip("docs/ is not beside the tests")
    pages, module, in_autosummary = {}, None, False
    for line in api.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = importlib.import_module(match[1])
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line.startswith("   "):
            name = line.strip()
            if name and not name.startswith(":"):  # not an option of the directive
                pages[f"{module.__name__}.{name}"] = getattr(module, name)
        elif line and not line.startswith(" "):
            in_autosummary = False
    return pages


@pytest.mark.parametrize("module_name, name", _public_names())
def test_every_public_name_has_an_api_page(module_name, name):
    value = getattr(_public_modules()[module_name], name)
    pages = _api_pages()
    assert any(page is value for page in pages.values()), (
        f"{module_name}.{name} has no page in docs/api.rst"
    )


def test_the_api_reference_lists_only_public_names():
    public = {id(getattr(_public_modules()[m], n)) for m, n in _public_names()}
    for page, value in _api_pages().items():
        assert id(value) in public, f"{page} is in docs/api.rst but not public"


def test_every_api_page_is_generated_under_the_name_it_is_listed():
    """The generated pages (after a build) are one per listed name."""
    generated = DOCS / "generated"
    if not generated.is_dir():
        pytest.skip("the site has not been built here")
    for page in _api_pages():
        assert (generated / f"{page}.rst").is_file(), page


# --- docstrings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value", _public_objects(), ids=[name for name, _ in _public_objects()]
)
def test_every_public_name_has_examples(name, value):
    doc = inspect.getdoc(value) or ""
    assert re.search(r"^Examples\n--------\n", doc, re.M), f"{name}: no Examples"
    assert ">>> " in doc, f"{name}: its Examples have no doctest"


def _docstring_tests():
    """The doctests of every public class (its methods included) and function."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for name, value in _public_objects():
        for test in finder.find(value, name, module=False, globs={}):
            if test.examples:
                tests.setdefault(test.name, test)
    return sorted(tests.values(), key=lambda test: test.name)


def _run(test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save files save them there
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    failures, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failures == 0, f"{failures} of {attempted} examples of {test.name} failed"


@pytest.fixture
def agg():
    """matplotlib draws off screen."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "test", _docstring_tests(), ids=[test.name for test in _docstring_tests()]
)
def test_docstring_examples_run(test, tmp_path, monkeypatch, agg):
    _run(test, tmp_path, monkeypatch)


# --- the user guide ------------------------------------------------------------------

GUIDE_NEEDS = {"large_data.rst": ["dask.array"], "model_selection.rst": ["pandas"]}


def _guide_pages():
    """The pages of the user guide that have examples."""
    if not DOCS.is_dir():
        return []
    pages = (DOCS / "user_guide").glob("*.rst")
    return sorted(page.name for page in pages if ">>> " in page.read_text())


def test_the_user_guide_is_found():
    if not DOCS.is_dir():
        pytest.skip("docs/ is not beside the tests")
    assert "em.rst" in _guide_pages()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("page", _guide_pages())
def test_user_guide_examples_run(page, tmp_path, monkeypatch, agg):
    for module in GUIDE_NEEDS.get(page, []):
        pytest.importorskip(module)
    path = DOCS / "user_guide" / page
    parser = doctest.DocTestParser()
    test = parser.get_doctest(path.read_text(), {}, page, str(path), 0)
    _run(test, tmp_path, monkeypatch)


# --- the performance table, in the README and in the guide ---------------------------


def _readme_table():
    """The rows of the README's performance table, header first, cells as text."""
    readme = DOCS.parent / "README.md"
    section = readme.read_text().split("## Performance", 1)[1]
    return [
        [cell.strip().replace("`", "") for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]


def _guide_table():
    """The rows of the list-table on the guide's performance page."""
    page = (DOCS / "user_guide" / "performance.rst").read_text()
    rows = []
    for line in page.split(".. list-table::", 1)[1].splitlines()[1:]:
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :]])
        elif line.startswith("     - "):
            rows[-1].append(line[len("     - ") :])
        elif line and not line.startswith("   :") and rows:
            break  # the first line after the table
    return [[cell.replace("``", "") for cell in row] for row in rows]


def test_the_guide_and_the_readme_show_the_same_performance_table():
    """The README keeps the table, the guide explains it: a new measurement (or a
    new column) goes into both."""
    if not (DOCS / "user_guide" / "performance.rst").exists():
        pytest.skip("docs/ is not beside the tests")
    readme, guide = _readme_table(), _guide_table()
    assert len(readme) > 2  # a header and rows
    assert guide == readme
