/**
 * How `console.log` shows fdpass objects.
 *
 * @module
 */

/**
 * Makes Node's and Bun's `util.inspect` and Deno's `Deno.inspect` show
 * `toString()` for instances of a class. The methods are added to the
 * prototype here rather than declared in the class: a method keyed by
 * `Symbol.for(...)` has a type `isolatedDeclarations` cannot state.
 */
export function inspectAsString(prototype: { toString(): string }): void {
  for (const key of ["nodejs.util.inspect.custom", "Deno.customInspect"]) {
    Object.defineProperty(prototype, Symbol.for(key), {
      value(this: { toString(): string }): string {
        return this.toString();
      },
      writable: true,
      configurable: true,
    });
  }
}
