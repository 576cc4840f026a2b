import { faultMatrix } from "./fault-harness.js";

faultMatrix("disconnect");
