"""One-off job that imports legacy Gaia campaign files into the event store.

Parse -> map -> apply: :mod:`~migrate_legacy.discovery` finds campaigns, :mod:`~.sources`
reads files, :mod:`~.campaign` and :mod:`~.messages` parse them (pure), :mod:`~.mapping` and
:mod:`~.files_map` turn them into steps (pure), :mod:`~.apply` writes them, :mod:`~.report`
accounts for every file, and :mod:`~.job` and :mod:`~.cli` run it all.
"""
