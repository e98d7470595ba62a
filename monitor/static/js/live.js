// The live connection: Socket.IO with the token, a visible state, automatic
// reconnection, and a catch-up over REST after every (re)connect.

import {$} from "./dom.js";
import {token} from "./api.js";
import {upsert, upsertAll} from "./state.js";

const LABELS = {live: "live", connecting: "connecting…", offline: "offline",
                down: "disconnected – reconnecting…", refused: "refused"};
let socket = null;
const rooms = new Set();

export function setConnection(stateName, detail) {
  const node = $("#conn");
  node.dataset.state = stateName;
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
    for (const room of rooms) socket.emit("subscribe", JSON.parse(room));
    handlers.catchUp();
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
