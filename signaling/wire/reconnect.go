package wire

// Reconnect tells a client to close this socket and connect again at once through the same URL
// (the load balancer sends it to another node): the node is draining (PROTOCOL.md, "Draining").
// A page that was publishing or watching sends its request again on the new socket.
type Reconnect struct {
	// Reason is why ("draining").
	Reason string `json:"reason,omitempty"`
}

// TypeReconnect is Reconnect's type.
const TypeReconnect = "reconnect"

// ReasonDraining is the Reconnect reason, and the WebSocket close reason, of a draining node.
const ReasonDraining = "draining"

func (Reconnect) MessageType() string { return TypeReconnect }
