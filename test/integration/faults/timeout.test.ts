import { faultMatrix } from "./fault-harness.js";

faultMatrix("timeout");
