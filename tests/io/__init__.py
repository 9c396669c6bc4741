"""Tests of vpp.io and the shared CLI input options."""
