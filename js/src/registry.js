// Where the initialised SDK client is found by the web components, whichever bundle or copy
// of the SDK made it: a symbol in the global registry.
export const CLIENT = Symbol.for("growthos.client");
