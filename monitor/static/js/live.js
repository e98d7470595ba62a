// The live connection: Socket.IO with the token, a visible state, automatic
// reconnection, and a catch-up over REST after every (re)connect.

import {$} from "./dom.js";
import {token} from "./api.js";
import {upsert, upsertAll} from "./state.js";

const LABELS = {live: "live", connecting: "connecting…", offline: "offline",
                down: "disconnected – reconnecting…", refused: "refused"};
let socket = null;
let connects = 0;  // which connect a catch-up belongs to: only the latest one's marks the page
const rooms = new Set();

// data-caught-up on #conn: "true" once the catch-up after the latest connect has ended
// (until then the page may still be filling in what happened while it was away).
export function setConnection(stateName, detail) {
  const node = $("#conn");
  node.dataset.state = stateName;
  node.dataset.caughtUp = "false";
  node.textContent = LABELS[stateName] || stateName;
  node.title = detail || "Live connection";
}

// handlers: {catchUp(), metrics(m), alert(a), health(h), refused(message)}
export function connect(handlers) {
  disconnect();
  rooms.clear();
  rooms.add(JSON.stringify({all: true}));
  setConnection("connecting");
  socket = window.io({auth: (cb) => cb({token: token.get()}), reconnectionDelayMax: 5000});
  socket.on("connect", () => {
    setConnection("live");
    const mine = ++connects;
    const current = socket;
    const caughtUp = () => {
      if (mine === connects && socket === current && current.connected) $("#conn").dataset.caughtUp = "true";
    };
    // Subscribe, and re-read over REST only once every subscription is acknowledged:
    // whatever changes after that comes live, so nothing falls between the two.
    subscribed(current, [...rooms].map((room) => JSON.parse(room)))
      .then(() => handlers.catchUp())
      .catch((error) => console.warn("regiq: catch-up failed", error))
      .finally(caughtUp);
  });
  socket.on("disconnect", (reason) => {
    setConnection("down", reason);
    if (reason === "io server disconnect") socket.connect();  // the server dropped us: retry too
  });
  socket.on("connect_error", (error) => {
    const message = (error && error.message) || "";
    if (message.startsWith("unauthorized")) {
      setConnection("refused", message);
      handlers.refused(message);
    } else {
      setConnection("down", message);
    }
  });
  socket.on("job_update", upsert);
  socket.on("job_updates", upsertAll);
  socket.on("metrics", handlers.metrics);
  socket.on("alert", handlers.alert);
  socket.on("health", handlers.health);
  socket.on("error", (body) => console.warn("regiq live:", body));
}

const ACK_TIMEOUT_MS = 10_000;

// Subscribe to every room; resolves when the monitor has acknowledged them all (or has
// not within ACK_TIMEOUT_MS: the catch-up then reads anyway, and says so).
async function subscribed(sock, payloads) {
  const answers = await Promise.allSettled(payloads.map((payload) =>
    sock.timeout(ACK_TIMEOUT_MS).emitWithAck("subscribe", payload)));
  for (const answer of answers) {
    if (answer.status === "rejected" || (answer.value && answer.value.ok === false)) {
      console.warn("regiq live: a subscription was not acknowledged",
                   answer.status === "rejected" ? answer.reason : answer.value);
    }
  }
}

export function follow(payload) {
  const key = JSON.stringify(payload);
  if (rooms.has(key)) return;
  rooms.add(key);
  if (socket && socket.connected) socket.emit("subscribe", payload);
}

export function disconnect() {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  setConnection("offline");
}
