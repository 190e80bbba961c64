"""Package layout: ``src/archetype`` plus the top-level ``kernels/`` as ``archetype.kernels``.

Everything else lives in pyproject.toml; this file only exists because the mapping of a
top-level folder into the package needs ``find_packages`` plus one extra entry.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "archetype.kernels"],
    package_dir={"": "src", "archetype.kernels": "kernels"},
    package_data={"archetype": ["py.typed", "bench/*.json", "report/templates/*"]},
)
