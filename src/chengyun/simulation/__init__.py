"""Capacity simulation (力量仿真推演): replay incidents against a roster on the domain code."""
