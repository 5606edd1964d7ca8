// The REST API as the console uses it: JSON in and out, errors as ApiError.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
  }
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem("coview.token") || "";
  }

  setToken(token) {
    this.token = token;
    if (token) sessionStorage.setItem("coview.token", token);
    else sessionStorage.removeItem("coview.token");
  }

  async call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, { error: { code: "network", message: "cannot reach the server" } });
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
}
