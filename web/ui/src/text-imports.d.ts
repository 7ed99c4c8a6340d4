// Files imported `with { type: "text" }` (esbuild's text loader) are strings.
declare module "*.css" {
  const text: string;
  export default text;
}
