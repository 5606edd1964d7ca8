// The demo site's help button: the cobrowse terms, then the session key to read to an agent.
const visitor = window.COVIEW.Cobrowse.Visitor;
const status = document.getElementById("share-status");
document.getElementById("share").addEventListener("click", () => visitor.showTerms());
visitor.addEventListener("sessionstart", (e) => {
  status.textContent = `Your session key is ${e.sessionkey}: read it to the agent.`;
});
visitor.addEventListener("sessionend", () => { status.textContent = "The session ended."; });
visitor.addEventListener("error", (e) => { status.textContent = `Could not share: ${e.msg}`; });
