"""Benchmarks of difffit against its peers (ChimeraX fitmap search, PowerFit); see NOTES.md."""
