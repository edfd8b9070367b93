-- POST /functions/hello, the example hook's trivial cloud function.
wrk.method = "POST"
wrk.headers["X-Parse-Application-Id"] = os.getenv("APP_ID")
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"
