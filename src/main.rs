fn main() {
    println!("wasserflow");
}
