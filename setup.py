"""Copies the top-level registry.toml into the wheel as taskrun/registry.toml.

setuptools' package data must live inside a package folder; registry.toml sits at the top of the
repository, where people look for it. (An editable install reads it from the checkout instead:
see taskrun.registry.registry_path.)
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithRegistry(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib, "taskrun")
        self.mkpath(str(target))
        self.copy_file("registry.toml", str(target / "registry.toml"))


setup(cmdclass={"build_py": BuildPyWithRegistry})
