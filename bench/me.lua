-- GET /users/me with a session token (wrk -s me.lua; env TOKEN, APP_ID).
wrk.method = "GET"
wrk.headers["X-Parse-Application-Id"] = os.getenv("APP_ID")
wrk.headers["X-Parse-Session-Token"] = os.getenv("TOKEN")
