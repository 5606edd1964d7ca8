// invoke.js for a chat window: COVIEW.Cobrowse.InvokeVisitor without the visitor library.
import { InvokeVisitor } from "./invoke.js";

const coview = (window.COVIEW = window.COVIEW || {});
coview.Cobrowse = coview.Cobrowse || {};
coview.Cobrowse.InvokeVisitor = InvokeVisitor;
