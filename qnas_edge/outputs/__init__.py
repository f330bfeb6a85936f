"""What a run leaves for people and firmware projects: the report (`report.write_report`) and the
deployable bundle (`export.export_bundle`), both read from the run directory's ledger only."""
