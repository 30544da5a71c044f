"""The console on the broker's HTTP port (issue 34): topics, records, groups and lag in a browser.

`routes.Console` answers `/` and `/console/...`; `state` reads through the broker's services,
`pages` and `template` render HTML, `browser` reads what a topic page asks for and `records`
decodes it in a thread, `lag` keeps the lag history.
"""
