"""`python -m crowdzero ...` is the `crowdzero` command, for environments without the
console script on PATH (a checkout used through PYTHONPATH, a venv not activated)."""

from crowdzero.cli import main

if __name__ == "__main__":
    main()
