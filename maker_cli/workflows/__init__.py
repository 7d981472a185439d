"""Workflow specs: a graph of question and sequence nodes whose results are composed into one."""
