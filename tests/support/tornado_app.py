"""A small Tornado app for squall's test client: login with set_secure_cookie and
xsrf_cookies=True. Binds 127.0.0.1 on a free port and prints the port on stdout."""
import asyncio
import sys

import tornado.netutil
import tornado.web
import tornado.httpserver


class Base(tornado.web.RequestHandler):
    def get_current_user(self):
        user = self.get_secure_cookie("user")
        return user.decode() if user else None


class Home(Base):
    def get(self):
        if self.current_user:
            self.write("hi %s" % tornado.escape.xhtml_escape(self.current_user))
        else:
            self.write("hello stranger")


class Login(Base):
    def get(self):
        self.write('<form method="post">%s<input name="username"></form>' % self.xsrf_form_html())

    def post(self):
        if self.get_argument("username", "") == "peterbe" and self.get_argument("password", "") == "secret":
            self.set_secure_cookie("user", "peterbe")
            self.redirect("/")
        else:
            self.set_status(403)
            self.write("bad login")


class Logout(Base):
    def post(self):
        self.clear_cookie("user")
        self.redirect("/")


class Api(Base):
    def post(self):
        self.write({"user": self.current_user, "body": self.request.body.decode()})


async def main():
    app = tornado.web.Application(
        [(r"/", Home), (r"/login/", Login), (r"/logout/", Logout), (r"/api/", Api)],
        cookie_secret="squall-test-secret",
        xsrf_cookies=True,
    )
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    # Stop when the test closes our stdin (or dies).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
