// The second script of the visitor library, loaded when a session starts: rrweb's recorder
// with the masking rules, and remote control. It hands itself to visitor.js.
import { Masking } from "./masking.js";
import { Recorder } from "./recorder.js";
import { perform } from "./control.js";

const coview = (window.COVIEW = window.COVIEW || {});
coview.recordModule = { Masking, Recorder, perform };
if (typeof coview.onRecordModule === "function") coview.onRecordModule(coview.recordModule);
