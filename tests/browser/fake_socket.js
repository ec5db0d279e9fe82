/* Prepended to each Web Worker harness (tests/browser/worker.py): a fake WebSocket the
 * harness plays the gateway through, every socket the client opened, and a bounded wait.
 */

const sockets = [];

/** Just enough of the WebSocket API; the test plays the server. */
class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    sockets.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(text));
  }

  close(code) {
    this.readyState = 3;
    this.closedWith = code;
  }

  accept() {
    this.readyState = 1;
    this.onopen({});
  }

  deliver(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }

  lose(code, reason) {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}

async function until(what, condition) {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
