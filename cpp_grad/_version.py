# The one place the version is written: the wheel (pyproject.toml) and
# CMakeLists.txt read this line.
__version__ = "0.1.0"
