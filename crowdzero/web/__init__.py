"""The web page where people play the learning agent (``crowdzero serve runs/NAME``).

Entry points live in `crowdzero.web.app`: ``create_app(run_dir)`` and ``serve_main``.
"""
