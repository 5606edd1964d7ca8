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
