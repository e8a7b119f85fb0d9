"""Tests of the revokd Home Assistant integration."""
