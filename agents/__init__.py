"""Installed as rnd_explore.agents."""
