// Generated from src/coview/protocol/rules.py by `python -m coview.protocol.rules`.
// Do not edit: change the Python module and generate this file again.

export const VERSION = "0.1.0";
export const KEY_PATTERN = "^[A-Za-z0-9_-]{1,50}$";
export const KEY_INPUT_PATTERN = "[A-Za-z0-9_\\-]{1,50}";
export const KEY_MAX_LENGTH = 50;
export const GROUP_ID_MAX = 2147483647;
export const MAX_GUESTS_MAX = 1000;
export const NAME_MAX_LENGTH = 100;
export const EMAIL_MAX_LENGTH = 200;
export const PHONE_MAX_LENGTH = 50;
export const TOKEN_MAX_LENGTH = 4096;
export const SIGNAL_NAME_PATTERN = "^[A-Za-z0-9_.-]{1,50}$";
export const END_REASONS = {"THIS_SIDE": "SessionEndReasonThisSide", "OTHER_SIDE": "SessionEndReasonOtherSide", "CANT_CONNECT": "SessionEndReasonCantConnect", "CONN_DROP": "SessionEndReasonConnDrop", "KILLED": "SessionEndReasonKilled", "TIMED_OUT": "SessionEndTimedout", "ERROR": "SessionEndReasonError"};
export const MESSAGES = {"start": {"delivery": "handshake", "senders": ["visitor"]}, "join": {"delivery": "handshake", "senders": ["agent", "viewer"]}, "host": {"delivery": "handshake", "senders": ["host"]}, "resume": {"delivery": "handshake", "senders": ["agent", "host", "viewer", "visitor"]}, "display": {"delivery": "reliable", "senders": ["host", "visitor"]}, "tile": {"delivery": "volatile", "senders": ["host", "visitor"]}, "pointer": {"delivery": "volatile", "senders": ["visitor"]}, "paused": {"delivery": "reliable", "senders": ["host", "visitor"]}, "rc": {"delivery": "reliable", "senders": ["visitor"]}, "device": {"delivery": "reliable", "senders": ["visitor"]}, "error": {"delivery": "reliable", "senders": ["visitor"]}, "info": {"delivery": "reliable", "senders": ["visitor"]}, "view": {"delivery": "reliable", "senders": ["visitor"]}, "dom": {"delivery": "reliable", "senders": ["visitor"]}, "input_refused": {"delivery": "reliable", "senders": ["visitor"]}, "message": {"delivery": "reliable", "senders": ["agent"]}, "rc_request": {"delivery": "reliable", "senders": ["agent"]}, "input": {"delivery": "reliable", "senders": ["agent"]}, "gesture": {"delivery": "reliable", "senders": ["agent"]}, "navigate": {"delivery": "reliable", "senders": ["agent"]}, "pause": {"delivery": "reliable", "senders": ["agent"]}, "rc_release": {"delivery": "reliable", "senders": ["agent"]}, "leave": {"delivery": "reliable", "senders": ["agent", "viewer"]}, "end": {"delivery": "reliable", "senders": ["agent", "host", "viewer", "visitor"]}, "ack": {"delivery": "volatile", "senders": ["agent", "host", "viewer", "visitor"]}};
export const SERVER_MESSAGES = {"welcome": "handshake", "refused": "handshake", "r": "direct", "v": "volatile", "catchup": "direct", "ack": "direct", "error": "direct", "left": "direct", "replaced": "direct", "upgrade_available": "direct", "keyframe": "volatile", "guests": "logged", "visitor": "logged", "ended": "logged", "child": "logged", "rc_disabled": "logged", "rc_refused": "direct", "pause_refused": "direct", "gesture_refused": "direct"};
