import { faultMatrix } from "./fault-harness.js";

faultMatrix("container-killed");
