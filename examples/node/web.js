// The app from the Platform API announcement: answers "Hello World" on $PORT.
const http = require("http");

const port = process.env.PORT || 5000;

http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("Hello World");
  })
  .listen(port, () => {
    console.log(`Listening on ${port}`);
  });
