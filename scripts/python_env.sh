# Sourced by setup.sh and test_all.sh: the Python environment cpp_grad is
# installed into. An active virtual environment is used as it is; otherwise
# the project's own .venv (git-ignored), made with ${PYTHON:-python3}.
# A system Python (Debian 12, Ubuntu 24.04) refuses `pip install` outside a
# virtual environment (PEP 668), so there is always one.

project_venv=.venv

# The interpreter to install into and run with, printed on stdout.
venv_python() {
  if [ -n "${VIRTUAL_ENV:-}" ]; then
    echo "$VIRTUAL_ENV/bin/python"
  else
    echo "$project_venv/bin/python"
  fi
}
