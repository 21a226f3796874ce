"""Maps the top-level source folders under the `fabrikam` import root.

The folders stay short (`operator/`, `workloads/`, ...) while the import names never shadow the standard
library's `operator` module; pyproject.toml declares the same package-dir mapping.
"""

from setuptools import find_packages, setup

SOURCE_FOLDERS = ("operator", "workloads", "cli", "devcluster")

setup(
    package_dir={f"fabrikam.{folder}": folder for folder in SOURCE_FOLDERS},
    packages=[
        f"fabrikam.{package}"
        for package in find_packages(include=[f"{folder}*" for folder in SOURCE_FOLDERS])
        if package.split(".")[0] in SOURCE_FOLDERS
    ],
    package_data={f"fabrikam.{folder}": ["py.typed"] for folder in SOURCE_FOLDERS},
)
