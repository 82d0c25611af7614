import * as ds from "@devicescript/core"
console.log("hello")
