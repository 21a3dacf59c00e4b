"""Sphinx configuration of fastem's documentation site.

Build it from the repository root, with fastem and its ``docs`` extra installed
(``pip install ".[docs]"``), warnings as errors as CI does::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery runs every script of ``examples/`` with its default (small) sizes;
``-D plot_gallery=0`` builds the pages without running them.
"""

import importlib
import inspect
import os

import fastem

os.environ.setdefault("MPLBACKEND", "Agg")

project = "fastem"
author = "the fastem developers"
copyright = "the fastem developers"  # noqa: A001 (Sphinx's name)
version = release = fastem.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "literal"
toc_object_entries_show_parents = "hide"  # "fit()", not "GaussianMixture.fit()"

# --- API reference: one page per public name, generated from the docstrings -------
autosummary_generate = True
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# An Examples section that imports matplotlib (fastem.plot's) shows its picture.
numpydoc_use_plots = True
# A docstring that is not complete numpydoc fails the build (warnings are errors):
# no docstring, a parameter left out, out of order or without a description, no
# Returns section or a return value without a description.
numpydoc_validation_checks = {
    "GL08",
    "PR01",
    "PR02",
    "PR03",
    "PR07",
    "PR10",
    "RT01",
    "RT03",
    "YD01",
}


def _public_modules():
    """The public submodules (each an API section: fastem.mixture, fastem.plot and
    those of later model families), then the package itself."""
    names = [f"fastem.{name}" for name in fastem._SUBMODULES]
    return [importlib.import_module(name) for name in names] + [fastem]


def _methods_from_scikit_learn():
    """For each public class, the public methods it inherits from scikit-learn's
    mixins (get_params, set_output, ...): listed by name on its page, not
    documented again (their docstrings link into scikit-learn's own site)."""
    inherited = {}
    for module in _public_modules():
        for name in module.__all__:
            value = getattr(module, name)
            if not inspect.isclass(value) or issubclass(value, Warning):
                continue
            inherited[f"{module.__name__}.{name}"] = sorted(
                attribute
                for attribute in dir(value)
                if not attribute.startswith("_")
                and callable(getattr(value, attribute))
                and (
                    # set_fit_request & co. are made for each class by scikit-learn
                    (attribute.startswith("set_") and attribute.endswith("_request"))
                    or next(
                        base for base in value.__mro__ if attribute in vars(base)
                    ).__module__.startswith("sklearn.")
                )
            )
    return inherited


def _reexported_by_fastem():
    """The pages (``fastem.mixture.GaussianMixture``, ...) of the names that the
    package ``fastem`` re-exports from a submodule: examples may use either name."""
    return sorted(
        f"{module.__name__}.{name}"
        for module in _public_modules()[:-1]
        for name in module.__all__
        if getattr(fastem, name, None) is getattr(module, name)
    )


autosummary_context = {
    "from_scikit_learn": _methods_from_scikit_learn(),
    "reexported_by_fastem": _reexported_by_fastem(),
}

# --- links to the projects fastem's users already know -----------------------------
# Only where the build may reach their sites (the GitHub workflow sets
# FASTEM_DOCS_INTERSPHINX=1): an unreachable inventory is a warning Sphinx cannot
# silence, and a local build without them just leaves those names as plain text.
intersphinx_mapping = {}
if os.environ.get("FASTEM_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# --- pictures in the user guide (``.. plot::``) -------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.autolayout": True}

# --- the gallery: the scripts of examples/, run -------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every folder of examples/, in the order shown: a model family's folder goes
    # after the families before it (docs/development.rst, "Adding a model family").
    "subsection_order": [
        "../examples/gaussian",
        "../examples/discrete",
        "../examples/hmm",
        "../examples/missing",
        "../examples/large_data",
    ],
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reference_url": {"fastem": None},
    "doc_module": ("fastem",),
    "backreferences_dir": "generated/backreferences",
}

# --- HTML ---------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastem {release}"
html_static_path = ["_static"]
html_css_files = ["fastem.css"]
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Pages without sub-pages need no section navigation (it would stand empty).
html_sidebars = {"index": [], "install": [], "development": []}
html_show_sourcelink = False
