import { faultMatrix } from "./fault-harness.js";

faultMatrix("server-killed");
