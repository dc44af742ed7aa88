"""A liaison's real day on one replica: the app open while other fycli processes use the same
file (issue 9, "What must be shown"; SPEC §4 "Several processes, one replica").

``day.run_day`` drives it; ``test_real_day.py`` runs a short day in the normal suite and
``python -m tests.multiproc.run_day --seconds 600`` the long one.
"""
