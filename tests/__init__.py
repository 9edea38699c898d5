"""The project's tests: a package, so that ``tests.conftest`` is the conftest pytest loads."""
