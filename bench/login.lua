-- POST /login of one seeded user (password hashing bound).
wrk.method = "POST"
wrk.headers["X-Parse-Application-Id"] = os.getenv("APP_ID")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', os.getenv("USERNAME"), os.getenv("PASSWORD"))
