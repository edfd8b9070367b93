-- GET /health: no envelope, no session, no storage. The floor of the HTTP
-- stack on this machine, measured in the same run as the other scenarios.
wrk.method = "GET"
