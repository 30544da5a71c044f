"""The console on the broker's HTTP port (issue 34): topics, records, groups and lag in a browser.

`routes.Console` answers `/` and `/console/...`; `state` reads through the broker's services, `pages`
and `template` render HTML, `records` decodes batches in a thread, `lag` keeps the lag history.
"""
