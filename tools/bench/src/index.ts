export * from "./decoder";
